"""Careers: the job board, applications, referrals, employers and their figures."""
