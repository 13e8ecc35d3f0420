"""The operators' console: a web page served by `mailmon run` for the province's IT team (administrators)
and each unit's IT contact, Vietnamese first, English second (docs/console.md).

app.py lists the routes; auth.py is the guard each goes through; pages/ holds one module per page;
templates/ and static/ are the server-rendered HTML and its one style sheet (no front-end build).
"""
