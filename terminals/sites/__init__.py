"""Terminal sites, server side: the site record, its administrators, devices, assignments."""
