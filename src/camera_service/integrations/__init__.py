"""Events out: MQTT (with Home Assistant discovery) and signed webhooks.

``events`` turns domain events into :class:`wire.Outgoing` facts, ``wire`` names them
and builds every topic and payload, ``mqtt`` and ``webhooks`` deliver them. None of
them blocks the event bus or the API: a handler only appends to a bounded queue.
"""
