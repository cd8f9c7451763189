# Placeholder views: the UI helper replaces this module.
from django.http import HttpResponse


def _todo(request, *args, **kwargs):
    return HttpResponse("todo")


home = account_list = account_create = account_detail = account_edit = account_test = _todo
account_sync = sync_list = resource_list = sync_detail = sync_status = resource_detail = _todo
