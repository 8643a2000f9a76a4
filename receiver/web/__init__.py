"""The HTTP edge: `app` (build_app), `keys` (typed AppKeys), `resources` (one cleanup context per
resource), and the routes: `webhook`, `api`, `ondemand`, `rules`, `ui`, `health`."""
