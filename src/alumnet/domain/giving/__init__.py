"""Giving: funds and campaigns, donors, gifts recorded exactly once (by staff, self-reported
and confirmed, through the payment provider's webhook, or imported), refunds as linked
entries, pledges and their instalments, receipts with numbers that run on per year, giving
levels, and the figures an advancement office reports."""
