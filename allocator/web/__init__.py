"""Web layer (the HTTP edge): the API's routes, one module per resource (`routes`), and file
uploads (`uploads`), assembled by the front door `allocator.api` (`create_app`). Named `web`
rather than `api` because `allocator/api.py` stays where it is as the HTTP app's front door.

May import every layer below it (errors, model, core, solve, io, explain, whatif, service,
store); never the CLI.
"""
