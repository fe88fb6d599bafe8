"""The WhatsApp side of the simulator: what Meta would run.

``graph_api`` is a fake Graph API that takes the bot's ``POST /{version}/{phone-number-id}
/messages`` (bearer token checked, message shapes and limits checked as the Cloud API
documents them) and hands each message to whoever watches that user's chat. ``phone``
builds and signs the webhook deliveries a user's messages would cause and posts them to
the bot. ``chat`` is the chat-style terminal (``atmsim whatsapp``).
"""
