"""Logging in and out in a real browser, and the client switcher."""

import re

import pytest

from labelling.models import Role
from tests import factories

# expect() retries until the page agrees or its timeout passes: no sleeps, no races with
# navigations the page starts itself (the switcher submits on change).
expect = pytest.importorskip("playwright.sync_api").expect

LOGIN_URL = re.compile(r"/accounts/login/")


@pytest.mark.parametrize(
    ("persona", "role"),
    [("owner", "admin"), ("librarian", "librarian"), ("reviewer", "reviewer")],
)
def test_each_role_lands_on_its_own_home_page(world, page_as, persona, role):
    user = getattr(world, persona)
    page = page_as(user)

    heading = page.locator("[data-role-home]")
    expect(heading).to_have_attribute("data-role-home", role)
    expect(heading).to_contain_text("Alpha University")
    expect(page.locator(".username")).to_have_text(user.username)


def test_a_wrong_password_shows_the_error_and_stays_on_the_login_page(world, page):
    page.goto("/")
    expect(page).to_have_url(LOGIN_URL)  # the home page sends strangers to log in

    page.fill("#id_username", world.librarian.username)
    page.fill("#id_password", "not the password")
    page.click("button[type=submit]")

    expect(page.locator("[role=alert]")).to_contain_text("didn't match")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.locator("[data-role-home]")).to_have_count(0)
    expect(page.locator(".username")).to_have_count(0)


def test_a_member_of_two_clients_switches_between_them(world, page_as):
    factories.MembershipFactory(user=world.librarian, client=world.client_b, role=Role.REVIEWER)
    page = page_as(world.librarian)
    heading = page.locator("[data-role-home]")
    switcher = page.locator("#client-select")
    expect(heading).to_have_attribute("data-role-home", "librarian")
    expect(switcher.locator("option:checked")).to_contain_text("Alpha University")

    switcher.select_option(str(world.client_b.pk))  # the select submits its form on change

    expect(heading).to_have_attribute("data-role-home", "reviewer")
    expect(heading).to_contain_text("Beta College")
    expect(switcher.locator("option:checked")).to_contain_text("Beta College")
    page.reload()  # the choice is kept in the session
    expect(heading).to_contain_text("Beta College")


def test_a_member_of_one_client_sees_no_switcher(world, page_as):
    page = page_as(world.reviewer)

    expect(page.locator(".client-name")).to_contain_text("Alpha University")
    expect(page.locator("#client-select")).to_have_count(0)


def test_logging_out_ends_the_session(world, page_as):
    page = page_as(world.owner)

    page.get_by_role("button", name="Log out").click()

    expect(page).to_have_url(LOGIN_URL)
    expect(page.locator(".username")).to_have_count(0)
    page.goto("/")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.locator("[data-role-home]")).to_have_count(0)
