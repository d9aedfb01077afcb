"""Terminal sites: enrolment, assignments, offline sync, study evidence and credits."""
