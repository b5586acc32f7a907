"""Community: posts, comments and likes, the feed, moderation, reference requests,
volunteering, public pages and photos."""
