"""Provider webhooks: signature checks, delivery ids and the mapping of deliveries to touchpoints.

Pure code the HTTP route calls: ``registry.PROVIDERS`` names one ``Provider`` per provider
(``sendgrid``, ``twilio``, ``line``, ``shopify``, ``chatwoot``); ``connectors`` keeps which
tenant and secret each ``/v1/webhooks/{provider}/{connector_id}`` URL stands for; ``raw_log``
seals a delivery for ``webhooks.raw`` and ``replay`` maps stored deliveries again. The route is
``services/ingest/webhook_route.py``.
"""
