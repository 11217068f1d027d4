"""`acnebot staff add|passwd|role|disable|list`: console accounts, managed from the command line only.

    acnebot staff add alice --role admin          # asks for the password twice
    echo "$PASSWORD" | acnebot staff add bob --role support --password-stdin
    acnebot staff add carol --role clinician
    acnebot staff passwd alice | acnebot staff role bob clinician
    acnebot staff disable bob | acnebot staff list

A new password, a new role or a disabled account ends that account's console sessions (roles: roles.py).
There is no default account.
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from bot.console.passwords import WeakPassword, hash_password
from bot.console.roles import ROLES
from bot.settings import Settings
from storage import Database


class StaffError(Exception):
    pass


def add_arguments(sub: argparse._SubParsersAction) -> None:
    staff = sub.add_parser("staff", help="staff console accounts: add, passwd, role, disable, list")
    actions = staff.add_subparsers(dest="staff_command", required=True)
    add = actions.add_parser("add", help="create an account (password asked, or read from stdin)")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd = actions.add_parser("passwd", help="set a new password (ends the account's sessions)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true")
    role = actions.add_parser("role", help="give an account another role (ends its sessions)")
    role.add_argument("username")
    role.add_argument("new_role", choices=ROLES)
    disable = actions.add_parser("disable", help="disable an account (ends its sessions)")
    disable.add_argument("username")
    actions.add_parser("list", help="list the accounts")


def main(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except (StaffError, WeakPassword) as error:
        print(f"acnebot: error: {error}", file=sys.stderr)
        return 1


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise StaffError("the passwords differ")
    return first


async def _open() -> Database:
    settings = Settings()
    return await Database.open(settings.reveal("database_url"), data_dir=settings.data_dir,
                               photo_key=settings.reveal("photo_key"))


async def _run(args: argparse.Namespace) -> int:
    command = args.staff_command
    password_hash = hash_password(_password(args.password_stdin)) if command in ("add", "passwd") else None
    async with await _open() as db:
        account = await db.staff.get_staff(args.username) if command != "list" else None
        if command == "list":
            accounts = await db.staff.list_staff()
            if not accounts:
                print("no staff accounts yet: acnebot staff add NAME --role admin", file=sys.stderr)
            for each in accounts:
                state = "disabled" if each.disabled else "active"
                print(f"{each.username}\t{each.role}\t{state}\t{each.created_at:%Y-%m-%d}")
            return 0
        if command == "add":
            if account is not None:
                raise StaffError(f"{args.username} exists already (use `acnebot staff passwd`)")
            await db.staff.create_staff(args.username, password_hash, role=args.role)
            print(f"created {args.role} account {args.username}")
            return 0
        if account is None:
            raise StaffError(f"no account named {args.username}")
        if command == "passwd":
            await db.staff.set_password(args.username, password_hash)
            await db.staff.set_disabled(args.username, False)
            done = "new password for"
        elif command == "role":
            await db.staff.set_role(args.username, args.new_role)
            done = f"role {args.new_role} for"
        else:
            await db.staff.set_disabled(args.username, True)
            done = "disabled"
        await db.staff_sessions.delete_sessions_of(account.id)
        print(f"{done} {args.username}")
        return 0
