"""Live media: encoded frames forwarded from publishers to subscribers without decoding."""
