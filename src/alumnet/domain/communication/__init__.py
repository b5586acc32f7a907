"""Communication: notices (announcements, messages, tickets and notifications to come)."""
