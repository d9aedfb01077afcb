"""Study plans: required courses and lessons an organisation sets for its members."""
