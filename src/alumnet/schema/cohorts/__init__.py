"""GraphQL for cohorts: batches, missions, enrolments, mentor assignments."""
