"""Reports on sites and members: monthly report cards, participation, rankings."""
