from django.dispatch import Signal

# Sent after a sync's outcome is committed: sync_finished.send(sender=Sync, sync=sync).
# Findings are evaluated from here, on the data that sync collected.
sync_finished = Signal()
