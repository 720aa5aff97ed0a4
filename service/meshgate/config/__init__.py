"""The configuration: how a section is declared and read (`fields`), the service's sections assembled and
loaded from YAML and the environment (`service`), and the generated reference (`reference`).

Each section lives with its component and declares every key once, in field metadata; this package imports
none of them at import time, so any component may import `meshgate.config.fields`.
"""
