"""The Celery app. Workers: `celery -A catchup worker`; beat: `celery -A catchup beat`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "catchup.settings")

app = Celery("catchup")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
