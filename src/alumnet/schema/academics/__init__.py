"""Academics: subjects and topics, offerings, topic progress and assessments, faculty time,
and students' feedback."""
