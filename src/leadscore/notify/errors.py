"""How a delivery failed decides what happens next."""


class Transient(Exception):
    """Worth retrying (the receiver is down, slow or rate-limiting): the invocation fails and is retried."""


class Permanent(Exception):
    """Retrying cannot help (a 4xx, a rejected address): the alert is parked on the dead-letter queue."""
