"""The analysts' review page: Starlette + Jinja2 under uvicorn.

Images are served blurred and greyscale by default (made on the server: the browser never gets
the original bytes until the analyst reveals it), every view, reveal and decision is in the
audit log, and each analyst may reveal only so many images a day.
"""
