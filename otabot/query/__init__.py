"""otabot's query language, below both front ends: one parser, one set of status words,
one way of explaining an error, one way of saying when something was fetched.

``/ota`` in Slack and the ``otabot`` commands parse with ``grammar``, ask the service
through ``answers.look_up``, and say what went wrong with ``explain``; each front end
only renders the answer (Block Kit, a table, JSON).
"""
