"""``python -m tornado_compat.httpclient [options] URL...``: fetch and print URLs.

The command line of :func:`tornado_compat.httpclient.main`, with Tornado's
flags.  This file must never do more than call it.
"""

from tornado_compat.httpclient import main

if __name__ == "__main__":
    main()
