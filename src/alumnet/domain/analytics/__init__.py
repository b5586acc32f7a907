"""Analytics: role dashboards, reports with trends, the early-warning model, scheduled
reports and cached aggregates."""
