"""User management: org admins manage their org's users; platform admins manage all."""
