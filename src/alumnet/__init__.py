"""alumnet: the GraphQL backend of an institution's alumni and student-mentorship network."""

__version__ = "0.1.0"
