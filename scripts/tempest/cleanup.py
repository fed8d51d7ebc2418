#!/usr/bin/python3
"""Removes from the OpenStack peer what an interrupted tempest run left.

Tempest deletes what each test class made when the class ends; a run that
is stopped midway leaves its load balancers, flavors, availability zones
and the users and projects of its dynamic credentials (all named
"tempest-..."). This deletes them, one object at a time: the peer's
Octavia keeps its database in SQLite, and a cascade delete of a load
balancer with many children runs their deletions in parallel and fails on
"database is locked", leaving the load balancer in ERROR. Call it holding
the peer's test lock. Usage: cleanup.py CLOUD (from OS_CLIENT_CONFIG_FILE).
"""
import sys
import time

import openstack

PREFIX = "tempest-"


def wait_active(lb_api, lb_id, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        lb = lb_api.find_load_balancer(lb_id, ignore_missing=True)
        if lb is None or lb.provisioning_status in ("ACTIVE", "ERROR"):
            return lb
        time.sleep(1)
    raise TimeoutError(f"load balancer {lb_id} not ACTIVE after {timeout} s")


def delete_lb(lb_api, lb):
    if lb.provisioning_status == "ERROR":
        # An ERROR load balancer takes no child deletes; a failover of the
        # no-op amphora brings it back to ACTIVE.
        lb_api.failover_load_balancer(lb.id)
        lb = wait_active(lb_api, lb.id)
    for pool in lb.pools or []:
        lb_api.delete_pool(pool["id"], ignore_missing=True)
        wait_active(lb_api, lb.id)
    for listener in lb.listeners or []:
        lb_api.delete_listener(listener["id"], ignore_missing=True)
        wait_active(lb_api, lb.id)
    lb_api.delete_load_balancer(lb.id, ignore_missing=True)
    deadline = time.time() + 120
    while lb_api.find_load_balancer(lb.id, ignore_missing=True) is not None and time.time() < deadline:
        time.sleep(1)


def main(cloud):
    conn = openstack.connect(cloud=cloud)
    lb_api, ks = conn.load_balancer, conn.identity
    projects = {p.id for p in ks.projects() if p.name.startswith(PREFIX)}
    removed = 0
    for lb in list(lb_api.load_balancers()):
        if lb.project_id in projects or (lb.name or "").startswith(PREFIX):
            delete_lb(lb_api, wait_active(lb_api, lb.id))
            removed += 1
    for kind, items, delete in (
            ("flavor", lb_api.flavors, lb_api.delete_flavor),
            ("flavor profile", lb_api.flavor_profiles, lb_api.delete_flavor_profile),
            ("availability zone", lb_api.availability_zones, lambda o: lb_api.delete_availability_zone(o.name)),
            ("availability zone profile", lb_api.availability_zone_profiles, lb_api.delete_availability_zone_profile)):
        for o in list(items()):
            if (o.name or "").startswith(PREFIX):
                delete(o)
                removed += 1
    for u in list(ks.users()):
        if u.name.startswith(PREFIX):
            ks.delete_user(u.id, ignore_missing=True)
            removed += 1
    for p in projects:
        ks.delete_project(p, ignore_missing=True)
        removed += 1
    if removed:
        print(f"cleanup.py: removed {removed} objects an interrupted tempest run left in the peer")


if __name__ == "__main__":
    main(sys.argv[1])
