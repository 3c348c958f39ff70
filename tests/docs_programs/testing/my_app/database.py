# Not shown in docs/how-to-guides/testing.md, whose test patches my_app.database.get_user
# (see docs/ruvon-docs-programs.md).


async def get_user(user_id):
    raise LookupError(f"no user database in this example (user {user_id})")
