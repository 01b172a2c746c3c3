"""The catalogue API: sectors, taxonomies and labels (members read those of their own
sectors, staff change them), the user's clients, and a client's own label names."""

from types import SimpleNamespace

import pytest

from labelling.models import ClientLabelName, Label, Role, Taxonomy, TaxonomyKind
from tests import factories

API = "/api/v1"


@pytest.fixture
def elsewhere(world):
    """A second sector with its own taxonomy, label, client and admin (olga)."""
    sector = factories.SectorFactory(name="Retail", slug="retail")
    taxonomy = factories.TaxonomyFactory(sector=sector, name="Shop floor")
    label = factories.LabelFactory(taxonomy=taxonomy, key="shelf", name="Shelf")
    client = factories.ClientFactory(name="Gamma Stores", slug="gamma", sector=sector)
    user = factories.UserFactory(username="olga")
    factories.MembershipFactory(user=user, client=client, role=Role.ADMIN)
    return SimpleNamespace(sector=sector, taxonomy=taxonomy, label=label, client=client, user=user)


@pytest.fixture
def staff(db):
    return factories.UserFactory(username="stella", is_staff=True)


def version_of(taxonomy: Taxonomy) -> int:
    return Taxonomy.objects.values_list("version", flat=True).get(pk=taxonomy.pk)


def ids(response) -> set[int]:
    return {row["id"] for row in response.json()["results"]}


def post_raw(api, url: str, body: str, method: str = "post"):
    return getattr(api, method)(url, data=body, content_type="application/json")


class TestSectors:
    def test_members_see_their_own_sector_only(self, world, elsewhere, api_client_for):
        for user in [world.owner, world.librarian, world.reviewer, world.outsider]:
            response = api_client_for(user).get(f"{API}/sectors/")
            assert response.status_code == 200
            assert ids(response) == {world.sector.pk}

    def test_a_sector_without_a_client_of_yours_is_a_404(self, world, elsewhere, api_client_for):
        response = api_client_for(world.owner).get(f"{API}/sectors/{elsewhere.sector.pk}/")
        assert response.status_code == 404

    def test_members_retrieve_their_sector(self, world, api_client_for):
        response = api_client_for(world.librarian).get(f"{API}/sectors/{world.sector.pk}/")
        assert response.status_code == 200
        assert response.json()["slug"] == "universities"

    def test_anonymous_is_refused(self, world, api_client_for):
        response = api_client_for(None).get(f"{API}/sectors/")
        assert response.status_code == 401

    def test_staff_see_every_sector(self, world, elsewhere, staff, api_client_for):
        response = api_client_for(staff).get(f"{API}/sectors/")
        assert ids(response) == {world.sector.pk, elsewhere.sector.pk}

    def test_staff_create_and_update(self, staff, api_client_for):
        api = api_client_for(staff)
        response = api.post(f"{API}/sectors/", {"name": "Charities", "slug": "charities"})
        assert response.status_code == 201, response.json()
        sector_id = response.json()["id"]
        response = api.patch(f"{API}/sectors/{sector_id}/", {"description": "Good causes"})
        assert response.status_code == 200
        assert response.json()["description"] == "Good causes"

    def test_a_client_admin_cannot_create_or_change_a_sector(self, world, api_client_for):
        api = api_client_for(world.owner)
        response = api.post(f"{API}/sectors/", {"name": "Charities", "slug": "charities"})
        assert response.status_code == 403
        response = api.patch(f"{API}/sectors/{world.sector.pk}/", {"name": "Unis"})
        assert response.status_code == 403
        world.sector.refresh_from_db()
        assert world.sector.name == "Universities"

    def test_a_duplicate_slug_is_a_400(self, world, staff, api_client_for):
        response = api_client_for(staff).post(
            f"{API}/sectors/", {"name": "Other unis", "slug": "universities"}
        )
        assert response.status_code == 400
        assert "slug" in response.json()

    def test_malformed_json_is_a_400(self, staff, api_client_for):
        response = post_raw(api_client_for(staff), f"{API}/sectors/", '{"name": ')
        assert response.status_code == 400
        assert "JSON parse error" in response.json()["detail"]

    def test_there_is_no_delete(self, world, staff, api_client_for):
        response = api_client_for(staff).delete(f"{API}/sectors/{world.sector.pk}/")
        assert response.status_code == 405


class TestTaxonomies:
    def test_members_see_the_taxonomies_of_their_sector(self, world, elsewhere, api_client_for):
        for user in [world.owner, world.librarian, world.outsider]:
            response = api_client_for(user).get(f"{API}/taxonomies/")
            assert response.status_code == 200
            assert ids(response) == {world.taxonomy.pk}
            row = response.json()["results"][0]
            assert row["kind"] == TaxonomyKind.MULTI_CLASS
            assert row["version"] == 1

    def test_another_sectors_taxonomy_is_a_404(self, world, elsewhere, api_client_for):
        response = api_client_for(world.owner).get(f"{API}/taxonomies/{elsewhere.taxonomy.pk}/")
        assert response.status_code == 404

    def test_anonymous_is_refused(self, world, api_client_for):
        response = api_client_for(None).get(f"{API}/taxonomies/{world.taxonomy.pk}/")
        assert response.status_code == 401

    def test_it_filters_by_sector(self, world, elsewhere, staff, api_client_for):
        api = api_client_for(staff)
        response = api.get(f"{API}/taxonomies/", {"sector": elsewhere.sector.pk})
        assert ids(response) == {elsewhere.taxonomy.pk}

    def test_a_bad_sector_filter_is_a_400(self, world, api_client_for):
        response = api_client_for(world.owner).get(f"{API}/taxonomies/", {"sector": "abc"})
        assert response.status_code == 400
        assert "sector" in response.json()

    def test_staff_create_with_a_kind(self, world, staff, api_client_for):
        response = api_client_for(staff).post(
            f"{API}/taxonomies/",
            {"sector": world.sector.pk, "name": "Events", "kind": "multi_label"},
        )
        assert response.status_code == 201, response.json()
        assert response.json()["kind"] == "multi_label"
        assert response.json()["version"] == 1

    def test_an_unknown_kind_is_a_400(self, world, staff, api_client_for):
        response = api_client_for(staff).post(
            f"{API}/taxonomies/", {"sector": world.sector.pk, "name": "Events", "kind": "fuzzy"}
        )
        assert response.status_code == 400
        assert "kind" in response.json()

    def test_a_duplicate_name_in_the_sector_is_a_400(self, world, staff, api_client_for):
        response = api_client_for(staff).post(
            f"{API}/taxonomies/", {"sector": world.sector.pk, "name": "Campus life"}
        )
        assert response.status_code == 400

    def test_the_version_is_read_only(self, world, staff, api_client_for):
        url = f"{API}/taxonomies/{world.taxonomy.pk}/"
        response = api_client_for(staff).patch(url, {"version": 99, "kind": "multi_label"})
        assert response.status_code == 200
        assert response.json()["version"] == 1
        assert response.json()["kind"] == "multi_label"

    def test_a_taxonomy_cannot_move_sector(self, world, elsewhere, staff, api_client_for):
        url = f"{API}/taxonomies/{world.taxonomy.pk}/"
        response = api_client_for(staff).patch(url, {"sector": elsewhere.sector.pk})
        assert response.status_code == 400
        assert "another sector" in response.json()["sector"][0]

    def test_members_cannot_write(self, world, api_client_for):
        api = api_client_for(world.owner)
        response = api.post(f"{API}/taxonomies/", {"sector": world.sector.pk, "name": "Events"})
        assert response.status_code == 403
        response = api.patch(f"{API}/taxonomies/{world.taxonomy.pk}/", {"name": "Mine"})
        assert response.status_code == 403


class TestLabels:
    def test_members_list_the_labels_of_their_sector(self, world, elsewhere, api_client_for):
        for user in [world.owner, world.reviewer, world.outsider]:
            response = api_client_for(user).get(f"{API}/labels/")
            assert response.status_code == 200
            assert {row["key"] for row in response.json()["results"]} == {
                "smiling",
                "not_smiling",
                "building",
            }

    def test_another_sectors_label_is_a_404(self, world, elsewhere, api_client_for):
        response = api_client_for(world.owner).get(f"{API}/labels/{elsewhere.label.pk}/")
        assert response.status_code == 404

    def test_anonymous_is_refused(self, world, api_client_for):
        response = api_client_for(None).get(f"{API}/labels/")
        assert response.status_code == 401

    def test_it_filters_by_taxonomy_and_activity(self, world, elsewhere, staff, api_client_for):
        api = api_client_for(staff)
        response = api.get(f"{API}/labels/", {"taxonomy": elsewhere.taxonomy.pk})
        assert ids(response) == {elsewhere.label.pk}
        Label.objects.filter(pk=world.labels.building.pk).update(is_active=False)
        response = api.get(f"{API}/labels/", {"taxonomy": world.taxonomy.pk, "active": "false"})
        assert ids(response) == {world.labels.building.pk}
        response = api.get(f"{API}/labels/", {"taxonomy": world.taxonomy.pk, "active": "true"})
        assert ids(response) == {world.labels.smiling.pk, world.labels.not_smiling.pk}

    @pytest.mark.parametrize("params", [{"taxonomy": "abc"}, {"active": "perhaps"}])
    def test_bad_filters_are_a_400(self, world, api_client_for, params):
        response = api_client_for(world.owner).get(f"{API}/labels/", params)
        assert response.status_code == 400
        assert set(response.json()) == set(params)

    def test_staff_create_a_label_and_the_version_goes_up(self, world, staff, api_client_for):
        response = api_client_for(staff).post(
            f"{API}/labels/",
            {
                "taxonomy": world.taxonomy.pk,
                "key": "grinning",
                "name": "Grinning",
                "parent": world.labels.smiling.pk,
            },
        )
        assert response.status_code == 201, response.json()
        assert response.json()["parent"] == world.labels.smiling.pk
        assert response.json()["is_active"] is True
        assert version_of(world.taxonomy) == 2

    def test_a_duplicate_key_is_a_400_and_changes_nothing(self, world, staff, api_client_for):
        response = api_client_for(staff).post(
            f"{API}/labels/", {"taxonomy": world.taxonomy.pk, "key": "smiling", "name": "Again"}
        )
        assert response.status_code == 400
        assert "already used" in response.json()["key"][0]
        assert version_of(world.taxonomy) == 1

    def test_a_parent_from_another_taxonomy_is_a_400(self, world, elsewhere, staff, api_client_for):
        response = api_client_for(staff).post(
            f"{API}/labels/",
            {
                "taxonomy": world.taxonomy.pk,
                "key": "grinning",
                "name": "Grinning",
                "parent": elsewhere.label.pk,
            },
        )
        assert response.status_code == 400
        assert "parent" in response.json()
        assert not Label.objects.filter(key="grinning").exists()

    @pytest.mark.parametrize("field", ["taxonomy", "parent"])
    def test_unknown_ids_in_the_body_are_a_400(self, world, staff, api_client_for, field):
        body = {"taxonomy": world.taxonomy.pk, "key": "grinning", "name": "Grinning"}
        body[field] = 999_999
        response = api_client_for(staff).post(f"{API}/labels/", body)
        assert response.status_code == 400
        assert field in response.json()

    def test_a_bad_key_is_a_400(self, world, staff, api_client_for):
        response = api_client_for(staff).post(
            f"{API}/labels/", {"taxonomy": world.taxonomy.pk, "key": "no spaces!", "name": "X"}
        )
        assert response.status_code == 400
        assert "key" in response.json()

    def test_malformed_json_is_a_400(self, staff, api_client_for):
        response = post_raw(api_client_for(staff), f"{API}/labels/", "[1, 2")
        assert response.status_code == 400

    def test_staff_update_and_the_version_goes_up(self, world, staff, api_client_for):
        url = f"{API}/labels/{world.labels.smiling.pk}/"
        response = api_client_for(staff).patch(url, {"name": "Smiling people"})
        assert response.status_code == 200
        assert response.json()["name"] == "Smiling people"
        assert version_of(world.taxonomy) == 2

    def test_an_update_that_changes_nothing_keeps_the_version(self, world, staff, api_client_for):
        url = f"{API}/labels/{world.labels.smiling.pk}/"
        response = api_client_for(staff).put(url, {"key": "smiling", "name": "Smiling"})
        assert response.status_code == 200
        assert version_of(world.taxonomy) == 1

    def test_a_label_cannot_become_its_own_ancestor(self, world, staff, api_client_for):
        api = api_client_for(staff)
        smiling, building = world.labels.smiling, world.labels.building
        response = api.patch(f"{API}/labels/{building.pk}/", {"parent": smiling.pk})
        assert response.status_code == 200
        response = api.patch(f"{API}/labels/{smiling.pk}/", {"parent": building.pk})
        assert response.status_code == 400
        assert "ancestor" in response.json()["parent"][0]
        response = api.patch(f"{API}/labels/{smiling.pk}/", {"parent": smiling.pk})
        assert response.status_code == 400
        assert version_of(world.taxonomy) == 2

    def test_renaming_a_key_to_a_taken_one_is_a_400(self, world, staff, api_client_for):
        url = f"{API}/labels/{world.labels.smiling.pk}/"
        response = api_client_for(staff).patch(url, {"key": "building"})
        assert response.status_code == 400
        assert "key" in response.json()

    def test_staff_retire_a_label(self, world, staff, api_client_for):
        api = api_client_for(staff)
        url = f"{API}/labels/{world.labels.building.pk}/retire/"
        response = api.post(url)
        assert response.status_code == 200
        assert response.json()["is_active"] is False
        assert version_of(world.taxonomy) == 2
        # a second retire changes nothing; the label stays readable
        assert api.post(url).status_code == 200
        assert version_of(world.taxonomy) == 2
        assert api.get(f"{API}/labels/{world.labels.building.pk}/").status_code == 200

    def test_a_label_with_active_children_cannot_retire(self, world, staff, api_client_for):
        factories.LabelFactory(taxonomy=world.taxonomy, key="grin", parent=world.labels.smiling)
        response = api_client_for(staff).post(f"{API}/labels/{world.labels.smiling.pk}/retire/")
        assert response.status_code == 400
        assert "grin" in response.json()["non_field_errors"][0]
        assert Label.objects.get(pk=world.labels.smiling.pk).is_active

    def test_a_retired_parent_is_refused(self, world, staff, api_client_for):
        Label.objects.filter(pk=world.labels.building.pk).update(is_active=False)
        url = f"{API}/labels/{world.labels.smiling.pk}/"
        response = api_client_for(staff).patch(url, {"parent": world.labels.building.pk})
        assert response.status_code == 400
        assert "retired" in response.json()["parent"][0]

    def test_retiring_an_unknown_label_is_a_404(self, world, staff, api_client_for):
        response = api_client_for(staff).post(f"{API}/labels/999999/retire/")
        assert response.status_code == 404

    def test_members_cannot_write(self, world, api_client_for):
        api = api_client_for(world.owner)
        smiling = world.labels.smiling
        body = {"taxonomy": world.taxonomy.pk, "key": "grin", "name": "Grin"}
        assert api.post(f"{API}/labels/", body).status_code == 403
        assert api.patch(f"{API}/labels/{smiling.pk}/", {"name": "X"}).status_code == 403
        assert api.post(f"{API}/labels/{smiling.pk}/retire/").status_code == 403
        assert version_of(world.taxonomy) == 1

    def test_there_is_no_delete(self, world, staff, api_client_for):
        response = api_client_for(staff).delete(f"{API}/labels/{world.labels.smiling.pk}/")
        assert response.status_code == 405


class TestClients:
    def test_it_lists_your_clients_with_your_role(self, world, api_client_for):
        response = api_client_for(world.reviewer).get(f"{API}/clients/")
        assert response.status_code == 200
        [row] = response.json()["results"]
        assert row["slug"] == "alpha"
        assert row["role"] == Role.REVIEWER
        assert row["sector"]["slug"] == "universities"

    def test_a_user_of_two_clients_sees_each_role(self, world, api_client_for):
        factories.MembershipFactory(user=world.librarian, client=world.client_b, role=Role.ADMIN)
        response = api_client_for(world.librarian).get(f"{API}/clients/")
        roles = {row["slug"]: row["role"] for row in response.json()["results"]}
        assert roles == {"alpha": Role.LIBRARIAN, "beta": Role.ADMIN}

    def test_the_owner_retrieves_by_slug(self, world, api_client_for):
        response = api_client_for(world.owner).get(f"{API}/clients/alpha/")
        assert response.status_code == 200
        assert response.json()["role"] == Role.ADMIN

    def test_an_outsider_gets_a_404(self, world, api_client_for):
        response = api_client_for(world.outsider).get(f"{API}/clients/alpha/")
        assert response.status_code == 404

    def test_staff_see_only_their_own_clients(self, world, staff, api_client_for):
        response = api_client_for(staff).get(f"{API}/clients/")
        assert response.json()["results"] == []
        assert api_client_for(staff).get(f"{API}/clients/alpha/").status_code == 404

    def test_anonymous_is_refused(self, world, api_client_for):
        assert api_client_for(None).get(f"{API}/clients/").status_code == 401

    def test_clients_are_read_only(self, world, api_client_for):
        api = api_client_for(world.owner)
        assert api.post(f"{API}/clients/", {"name": "X", "slug": "x"}).status_code == 405
        assert api.patch(f"{API}/clients/alpha/", {"name": "X"}).status_code == 405


@pytest.fixture
def named(world):
    """Client A calls ``smiling`` "Happy students"."""
    return factories.ClientLabelNameFactory(
        client=world.client_a, label=world.labels.smiling, name="Happy students"
    )


class TestClientLabelNames:
    url = f"{API}/clients/alpha/label-names/"

    def test_every_member_reads_them(self, world, named, api_client_for):
        for user in [world.owner, world.librarian, world.reviewer]:
            response = api_client_for(user).get(self.url)
            assert response.status_code == 200
            [row] = response.json()["results"]
            assert row == {
                "id": named.pk,
                "label": world.labels.smiling.pk,
                "label_key": "smiling",
                "label_name": "Smiling",
                "name": "Happy students",
            }
            assert api_client_for(user).get(f"{self.url}{named.pk}/").status_code == 200

    def test_an_outsider_gets_a_404_for_everything(self, world, named, api_client_for):
        api = api_client_for(world.outsider)
        assert api.get(self.url).status_code == 404
        assert api.get(f"{self.url}{named.pk}/").status_code == 404
        body = {"label": world.labels.building.pk, "name": "Halls"}
        assert api.post(self.url, body).status_code == 404
        assert api.patch(f"{self.url}{named.pk}/", {"name": "Mine"}).status_code == 404
        assert api.delete(f"{self.url}{named.pk}/").status_code == 404
        assert ClientLabelName.objects.get(pk=named.pk).name == "Happy students"

    def test_another_clients_name_is_a_404_through_your_url(self, world, api_client_for):
        theirs = factories.ClientLabelNameFactory(client=world.client_b, label=world.labels.smiling)
        response = api_client_for(world.owner).get(f"{self.url}{theirs.pk}/")
        assert response.status_code == 404

    def test_anonymous_is_refused(self, world, api_client_for):
        assert api_client_for(None).get(self.url).status_code == 401

    def test_the_admin_names_a_label(self, world, api_client_for):
        body = {"label": world.labels.building.pk, "name": "Halls"}
        response = api_client_for(world.owner).post(self.url, body)
        assert response.status_code == 201, response.json()
        assert response.json()["label_key"] == "building"
        assert world.client_a.display_names() == {world.labels.building.pk: "Halls"}

    @pytest.mark.parametrize("persona", ["librarian", "reviewer"])
    def test_other_roles_cannot_write(self, world, named, api_client_for, persona):
        api = api_client_for(getattr(world, persona))
        body = {"label": world.labels.building.pk, "name": "Halls"}
        assert api.post(self.url, body).status_code == 403
        assert api.patch(f"{self.url}{named.pk}/", {"name": "Mine"}).status_code == 403
        assert api.delete(f"{self.url}{named.pk}/").status_code == 403
        assert list(ClientLabelName.objects.values_list("name", flat=True)) == ["Happy students"]

    def test_a_second_name_for_a_label_is_a_400(self, world, named, api_client_for):
        body = {"label": world.labels.smiling.pk, "name": "Grinning grads"}
        response = api_client_for(world.owner).post(self.url, body)
        assert response.status_code == 400
        assert "already has a name" in response.json()["label"][0]

    def test_a_label_from_another_sector_is_a_400(self, world, elsewhere, api_client_for):
        body = {"label": elsewhere.label.pk, "name": "Shelves"}
        response = api_client_for(world.owner).post(self.url, body)
        assert response.status_code == 400
        assert response.json()["label"] == [
            f"Label {elsewhere.label.pk} is not in the Universities taxonomy."
        ]

    def test_an_unknown_label_is_a_400(self, world, api_client_for):
        response = api_client_for(world.owner).post(self.url, {"label": 999999, "name": "X"})
        assert response.status_code == 400
        assert "label" in response.json()

    @pytest.mark.parametrize(
        "body", ['{"label": ', "[]", '{"label": "smiling", "name": "X"}', '{"name": ""}']
    )
    def test_malformed_bodies_are_a_400(self, world, api_client_for, body):
        response = post_raw(api_client_for(world.owner), self.url, body)
        assert response.status_code == 400
        assert not ClientLabelName.objects.exists()

    def test_the_admin_renames(self, world, named, api_client_for):
        response = api_client_for(world.owner).patch(f"{self.url}{named.pk}/", {"name": "Grins"})
        assert response.status_code == 200
        assert response.json()["name"] == "Grins"
        assert ClientLabelName.objects.get(pk=named.pk).name == "Grins"

    def test_the_label_of_a_name_cannot_change(self, world, named, api_client_for):
        response = api_client_for(world.owner).put(
            f"{self.url}{named.pk}/", {"label": world.labels.building.pk, "name": "Halls"}
        )
        assert response.status_code == 400
        assert ClientLabelName.objects.get(pk=named.pk).label_id == world.labels.smiling.pk

    def test_the_admin_deletes(self, world, named, api_client_for):
        response = api_client_for(world.owner).delete(f"{self.url}{named.pk}/")
        assert response.status_code == 204
        assert not ClientLabelName.objects.exists()

    def test_an_unknown_id_is_a_404(self, world, api_client_for):
        api = api_client_for(world.owner)
        assert api.get(f"{self.url}999999/").status_code == 404
        assert api.patch(f"{self.url}999999/", {"name": "X"}).status_code == 404

    def test_an_unknown_client_is_a_404(self, world, api_client_for):
        response = api_client_for(world.owner).get(f"{API}/clients/nowhere/label-names/")
        assert response.status_code == 404
