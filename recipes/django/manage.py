"""The Django recipe (docs/recipes.md): a Django project in one file (its
settings, its URLs and its one view), served by `runserver`, which binds its
own port, run unchanged under systemfd.

    $ systemfd -s http::8000 -w recipes/django -- python3 recipes/django/manage.py runserver --noreload 8000

Under -w on Linux systemfd adopts runserver's bind: it gets systemfd's socket
for 127.0.0.1:8000 in place of its own, and a restart hands over without a
refused connection. `--noreload` leaves restarting to systemfd (Django's
autoreloader would restart the server itself, in a process of its own).
"""

import os
import sys

from django.conf import settings
from django.http import HttpResponse
from django.urls import path

settings.configure(
    DEBUG=True,  # with ALLOWED_HOSTS empty: localhost, 127.0.0.1 and [::1]
    SECRET_KEY="a development server's key",
    ROOT_URLCONF=__name__,
)


def hello(request):
    return HttpResponse(
        f"Hello from Django, pid {os.getpid()}!\n", content_type="text/plain"
    )


urlpatterns = [path("", hello)]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
