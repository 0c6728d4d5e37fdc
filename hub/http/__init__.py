"""The HTTP edge: what every request passes before a route sees it (body limits, security headers, sign-in
throttling). Pure ASGI, so nothing here buffers a body or a streamed response."""
