"""Ask Portainer (or anything speaking its webhook) to redeploy with the image of a commit.

Portainer's service webhooks take `?tag=` to pull that tag of the service's image before
they restart it; its answer is 204 No Content. Usage: redeploy.py WEBHOOK_URL TAG
"""

import sys
import urllib.request

webhook, tag = sys.argv[1], sys.argv[2]
if not webhook:
    sys.exit("PORTAINER_WEBHOOK is not set for this environment")
request = urllib.request.Request(f"{webhook}?tag={tag}", method="POST", data=b"")
with urllib.request.urlopen(request, timeout=120) as response:
    print(f"redeploy requested for {tag[:12]}: HTTP {response.status}")
