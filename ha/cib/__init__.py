"""The CIB: Pacemaker's Cluster Information Base, as Pacemaker's own XML (lxml).

Modules and their contracts (each usable alone; the replica ties them together):

- ``xml.py``: ``CibError`` (ValueError; ``.issues``: list of ``Issue``), ``Issue``
  (``path``, ``element``, ``id``, ``attribute``, ``message``, ``severity``; ``str()`` is
  one line naming the element, its id, the attribute and what was expected),
  ``parse(data: bytes | str, source: str = "<cib>") -> etree._Element`` (the ``<cib>``
  root; malformed XML → CibError naming source:line), ``serialise(root) -> bytes``
  (UTF-8, no pretty printing: parse → serialise → parse gives the same tree),
  ``empty(validate_with="pacemaker-3.9") -> root`` (a new CIB with every section),
  ``section(root, name) -> element`` (configuration sections: crm_config, nodes,
  resources, constraints, rsc_defaults, op_defaults, fencing-topology, acls, tags;
  and ``status``).
- ``validate.py``: ``verify(root) -> list[Issue]`` (errors and warnings, like
  crm_verify); ``check(root) -> None`` raises CibError with every error.
- ``versions.py``: ``version(root) -> (admin_epoch, epoch, num_updates)``,
  ``bump(root, *, configuration: bool)`` (a configuration change: epoch += 1,
  num_updates = 0; a status change: num_updates += 1), ``digest(root) -> str`` (of the
  configuration), ``newer(a, b) -> bool``.
- ``patch.py``: Pacemaker's v2 patchset (``<diff format="2">`` with ``<version>`` source
  and target and ``<change operation="create|delete|modify|move" path=...>``):
  ``diff(old, new) -> etree._Element``, ``apply(root, patchset) -> new root`` (refused
  with PatchError when the root is not at the patch's source version or a path is
  missing; the input root is never changed).
- ``store.py``: ``CibStore(directory, backups=N)``: ``cib.xml`` + ``cib.xml.sig``
  written atomically (temp file, fsync, rename, directory fsync), the last N backups
  kept; ``load()`` refuses a corrupt or digest-mismatched file with a clear message
  and moves it aside.
- ``acl.py``: Pacemaker ACLs (acl_target, acl_group, acl_role; read/write/deny by
  xpath, reference and object-type; deny wins; default deny for non-root when
  ``enable-acl`` is true): filter a query, check a write.
- ``replica.py``: the sans-IO replication core: every update is an ordered message in
  the process group "cib"; configuration writes need quorum; after a merge or join the
  replicas converge on the copy with the highest version.
"""
