"""server: the HTTP side of Shipline (REST API, git hosting); built on the engine and store."""
