"""Community: posts with comments and likes, the feed, moderation, link previews, reference
requests, volunteering, editable public pages, and photos."""
