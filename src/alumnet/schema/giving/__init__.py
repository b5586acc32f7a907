"""Giving: campaigns and funds, gifts and refunds, online payments, pledges, receipts,
donors and giving levels, and the giving reports."""
