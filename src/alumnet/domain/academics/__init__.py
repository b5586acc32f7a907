"""Academics: curricula (programmes, subjects, ordered topics with prerequisites) offered to
missions and batches, each student's progress topic by topic with competency levels and
assessment marks, velocity and forecasts, faculty time and utilisation, and students'
feedback with its sentiment."""
