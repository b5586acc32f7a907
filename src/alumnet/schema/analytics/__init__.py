"""Analytics in GraphQL: dashboards, reports, early warning, scheduled reports."""
