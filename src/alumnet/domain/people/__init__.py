"""People: profiles, privacy, the directory, follows and views, data quality, own data."""
