"""Admissions: inquiries from prospective students (the public form and staff), the
counselling pipeline, follow-up tasks and the activity timeline, explainable lead scores,
converting an inquiry into a student, and the conversion figures."""
