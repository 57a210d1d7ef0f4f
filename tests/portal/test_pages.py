"""Portal pages per role: each shows only enterprises in reach; enterprise admins manage their own."""

from __future__ import annotations

import pytest

from portal.models import AuditEntry, Enterprise, Role, User
from tests.conftest import TEST_PASSWORD, login
from tests.factories import EnterpriseFactory, region

ALL_NAMES = ("郑州甲钢铁有限公司", "洛阳乙化工有限公司", "上海丙数据中心有限公司")

# Which world enterprises each role sees on the enterprise list.
EXPECTED_REACH = {
    "a_admin": {"郑州甲钢铁有限公司"},
    "a_staff": {"郑州甲钢铁有限公司"},
    "b_admin": {"洛阳乙化工有限公司"},
    "outsider_admin": {"上海丙数据中心有限公司"},
    "zhengzhou_reviewer": {"郑州甲钢铁有限公司"},
    "luoyang_reviewer": {"洛阳乙化工有限公司"},
    "henan_officer": {"郑州甲钢铁有限公司", "洛阳乙化工有限公司"},
    "xuhui_reviewer": {"上海丙数据中心有限公司"},
    "expert": set(),
    "platform_admin": set(ALL_NAMES),
}


@pytest.mark.django_db
@pytest.mark.parametrize("who", sorted(EXPECTED_REACH))
def test_pages_show_only_enterprises_in_reach(client, world, who):
    login(client, world.user(who))
    for url in ("/", "/enterprises/"):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        if url == "/enterprises/":
            for name in ALL_NAMES:
                assert (name in page) == (name in EXPECTED_REACH[who]), (url, name)
        else:
            for name in set(ALL_NAMES) - EXPECTED_REACH[who]:
                assert name not in page, (url, name)


@pytest.mark.django_db
@pytest.mark.parametrize("who", sorted(EXPECTED_REACH))
def test_enterprise_detail_is_404_out_of_reach(client, world, who):
    login(client, world.user(who))
    for enterprise in (world.tenant_a, world.tenant_b, world.outsider):
        status = client.get(f"/enterprises/{enterprise.pk}/").status_code
        assert status == (200 if enterprise.name in EXPECTED_REACH[who] else 404), enterprise.name
    assert client.get("/enterprises/999999/").status_code == 404


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(client, world):
    for url in ("/", "/enterprises/", f"/enterprises/{world.tenant_a.pk}/", "/accounts/", "/audit/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_role_dashboards(client, world):
    login(client, world.user("expert"))
    assert "暂无分配给您的评审任务" in client.get("/").content.decode()

    login(client, world.user("platform_admin"))
    page = client.get("/").content.decode()
    assert 'id="platform-counts"' in page

    pending = EnterpriseFactory(name="洛阳待审企业", region=region("410305"),
                                status=Enterprise.Status.PENDING)
    login(client, world.user("luoyang_reviewer"))
    page = client.get("/").content.decode()
    assert pending.name in page
    login(client, world.user("zhengzhou_reviewer"))
    assert pending.name not in client.get("/").content.decode()

    login(client, world.user("a_admin"))
    page = client.get("/").content.decode()
    assert "可以填报申报材料" in page
    assert f"/enterprises/{world.tenant_a.pk}/users/" in page


@pytest.mark.django_db
def test_enterprise_admin_edits_contacts(client, world):
    login(client, world.user("a_admin"))
    url = f"/enterprises/{world.tenant_a.pk}/edit/"
    assert client.get(url).status_code == 200
    response = client.post(url, {
        "industry": "C31", "address": "郑州市金水区花园路8号", "contact_name": "李主任",
        "contact_phone": "13800000000", "contact_email": "li@example.cn", "park": "",
        # Fields outside the form are ignored, not written.
        "credit_code": "91410105000000000X", "status": "approved", "name": "改名",
    })
    assert response.status_code == 302
    world.tenant_a.refresh_from_db()
    assert world.tenant_a.contact_name == "李主任"
    assert world.tenant_a.name == "郑州甲钢铁有限公司"
    entry = AuditEntry.objects.filter(action="update", object_type="portal.Enterprise",
                                      object_id=str(world.tenant_a.pk)).latest("id")
    assert entry.changes["contact_name"]["after"] == "李主任"
    assert entry.actor == world.user("a_admin")


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["a_staff", "zhengzhou_reviewer", "henan_officer", "b_admin", "expert"])
def test_only_the_enterprise_admin_may_edit_and_manage_staff(client, world, who):
    login(client, world.user(who))
    assert client.get(f"/enterprises/{world.tenant_a.pk}/edit/").status_code == 404
    assert client.post(f"/enterprises/{world.tenant_a.pk}/edit/", {"address": "x", "contact_name": "x",
                                                                    "contact_phone": "1"}).status_code == 404
    assert client.get(f"/enterprises/{world.tenant_a.pk}/users/").status_code == 404
    world.tenant_a.refresh_from_db()
    assert world.tenant_a.address != "x"


@pytest.mark.django_db
def test_forged_park_on_edit_is_a_form_error(client, world):
    login(client, world.user("a_admin"))
    before = AuditEntry.objects.count()
    response = client.post(f"/enterprises/{world.tenant_a.pk}/edit/", {
        "address": "新地址", "contact_name": "李", "contact_phone": "1", "park": world.outsider.pk,
    })
    assert response.status_code == 200
    assert response.context["form"].errors["park"]
    world.tenant_a.refresh_from_db()
    assert world.tenant_a.address != "新地址"
    assert AuditEntry.objects.count() == before


@pytest.mark.django_db
def test_enterprise_admin_adds_staff(client, world):
    login(client, world.user("a_admin"))
    url = f"/enterprises/{world.tenant_a.pk}/users/"
    page = client.get(url).content.decode()
    assert world.user("a_staff").username in page and world.user("b_admin").username not in page
    response = client.post(url, {"username": "a_staff2", "last_name": "张", "first_name": "三",
                                 "password1": TEST_PASSWORD, "password2": TEST_PASSWORD})
    assert response.status_code == 302
    staff = User.objects.get(username="a_staff2")
    assert staff.role == Role.ENTERPRISE_STAFF
    assert staff.enterprise_id == world.tenant_a.pk

    users_before = User.objects.count()
    duplicate = {"username": world.user("b_admin").username, "password1": TEST_PASSWORD,
                 "password2": TEST_PASSWORD}
    response = client.post(url, duplicate)
    assert response.status_code == 200
    assert response.context["form"].errors["username"]
    assert User.objects.count() == users_before


@pytest.mark.django_db
def test_account_page(client, world):
    login(client, world.user("zhengzhou_reviewer"))
    page = client.get("/accounts/").content.decode()
    assert "郑州市工业和信息化局" in page
    assert "未启用" in page
    assert "/accounts/password/" in page


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/accounts/register/", "/accounts/2fa/setup/", "/"])
def test_pages_have_no_inline_script_or_style(client, world, url):
    if url != "/accounts/login/" and url != "/accounts/register/":
        login(client, world.user("a_admin"))
    response = client.get(url)
    page = response.content.decode()
    assert response.status_code == 200
    assert "<script" not in page
    assert " style=" not in page and "<style" not in page
    assert "default-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_login_page_in_english_and_chinese(client, world):
    assert "登录" in client.get("/accounts/login/").content.decode()
    english = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Log in" in english
    assert "登录" not in english.replace("lang=\"zh-hans\">简体中文", "")


@pytest.mark.django_db
def test_language_cookie_and_set_language(client, world):
    client.cookies["django_language"] = "en"
    assert "Log in" in client.get("/accounts/login/").content.decode()
    client.cookies.pop("django_language")
    assert "Log in" not in client.get("/accounts/login/").content.decode()
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert "Log in" in client.get("/accounts/login/").content.decode()
