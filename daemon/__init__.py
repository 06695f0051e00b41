"""Watch-folder daemon: every photo dropped into a watched folder comes out stylized.

Front end only: events, claiming, atomic writes and bookkeeping. All painting is done by
the shared `stylizer.Stylizer`, so the daemon can also run inside the app's process.
"""
