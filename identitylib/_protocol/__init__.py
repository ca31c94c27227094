"""The sans-I/O protocol core.

Nothing in this package performs I/O. Grant modules build :class:`HttpRequest` objects and
parse :class:`HttpResponse` objects; flows are generators that yield requests and receive
responses, so one implementation serves every transport (see ``identitylib._transport``).
"""
