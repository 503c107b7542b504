#!/bin/sh
# The "webshop": serves its build info. A real project would start its web server here.
echo "webshop ${COMMIT:-dev} ready"
