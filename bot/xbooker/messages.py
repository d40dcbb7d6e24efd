"""X Booker's error messages, verbatim (typos included), in one place.

Sections 1-4 of docs/xbooker-api.md are what X Booker documents (section A
below); section 5 what this project assumes (section B). The token manager
matches on these strings, so they must stay byte-for-byte what X Booker sends.
"""

# Section A: /tokens/refresh
CLIENT_NOT_FOUND = "Client not found, or invalid client id"
INVALID_CLIENT_SECRET = "Invalid client secret"
# Section A: /tokens/access
INVALID_REFRESH_TOKEN = "Invalid refresh token"
NOT_PERMITTED = "You are't permitted to use this access token"
REFRESH_EXPIRED = "Your refresh token is expired, please issue another refresh token first."
# Section A: delegated calls
METHOD_NOT_RECOGNIZED = "Method not recognized"
INVALID_SCOPE = "Invalid request scope"
ACCESS_EXPIRED = "Access token expired"
NO_REFRESH_TOKENS = "No refresh tokens found please get a refresh token first"
APP_NOT_FOUND = "Delegated app not found, invalid client id"
ORGANIZATION_NOT_FOUND = "Organization not found, invalid organization id"
# Section B (assumed)
ROUTE_NOT_FOUND = "Route not found"
MEMBER_NOT_FOUND = "Member not found"
INVALID_BODY = "Invalid request body"
MEMBER_EXISTS = "Member already exists"
LAST_OWNER = "Organization must keep at least one owner"
