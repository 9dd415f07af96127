"""Everything that acts by itself: testbed agents (`agents.testbed`) and AI agents (`agents.ai`)."""
