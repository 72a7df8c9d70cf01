"""The review of cases: what analysts read, decide and see, and what customers ask.

Every change is one transaction together with its ``reporting.audit`` record, so there is no
decision, view or reveal without its record. One module per concern:

* ``queue``: the queue (filters, priority order, keyset pages) and one case's detail;
* ``decisions``: confirm, false positive, escalate, an admin's re-decision, and what each sets
  in motion (report, unblock, notices), in the decision's transaction;
* ``appeals``: customers' review requests;
* ``flags``: list entries a false positive flagged, and the decision on each;
* ``exposure``: reveals of an image against a daily limit, and every image view recorded;
* ``values`` and ``errors``: what these hand out and raise.
"""
