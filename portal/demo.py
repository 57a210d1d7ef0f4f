"""The demo data set (`manage.py seed_demo`): organizations and one account per role.

Safe to run again and again: rows are looked up by their natural keys (credit code, name and
region, user name) and created only when missing, so what a demo visitor did (approved the
pending registration, say) stays. Accounts are the exception: their role, organization,
staff flag and password are put back on every run, so the logins printed in the README
always work. A second run with nothing to repair writes nothing (and so leaves no audit rows).
"""

from __future__ import annotations

import importlib
import importlib.util
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django_scopes import scopes_disabled

from applications.models import Program
from applications.services import programs_load
from portal.credit_code import make_credit_code
from portal.models import Authority, Enterprise, Region, ReviewOrganization, Role, User

METERING_DEMO_MODULE = "metering.demo.data"


@dataclass(frozen=True)
class DemoEnterprise:
    key: str
    name: str
    serial: int  # makes the credit code; never reuse one
    region: str
    kind: str = Enterprise.Kind.INDUSTRIAL
    approved: bool = True
    park: str | None = None  # key of the park this enterprise belongs to
    admin: str | None = None  # user name of its enterprise admin
    industry: str = ""
    address: str = ""
    contact_name: str = "张工"
    contact_phone: str = "0371-60000000"


# Order matters: a park is approved before its members join it.
DEMO_ENTERPRISES: tuple[DemoEnterprise, ...] = (
    DemoEnterprise("zhengzhou", "郑州金水智能装备制造有限公司", 1, "410105", admin="demo_enterprise",
                   industry="C34 通用设备制造业", address="河南省郑州市金水区经三路 68 号",
                   contact_name="王建国", contact_phone="0371-65550101"),
    DemoEnterprise("luoyang", "洛阳涧西重型机械有限公司", 2, "410305", admin="demo_enterprise_b",
                   industry="C35 专用设备制造业", address="河南省洛阳市涧西区建设路 206 号",
                   contact_name="李红", contact_phone="0379-64220202"),
    DemoEnterprise("shanghai", "上海闵行精密制造有限公司", 3, "310112", admin="demo_shanghai",
                   industry="C34 通用设备制造业", address="上海市闵行区剑川路 930 号",
                   contact_name="陈立", contact_phone="021-54300303"),
    DemoEnterprise("park", "上海闵行低碳产业园", 4, "310112", kind=Enterprise.Kind.PARK, admin="demo_park",
                   industry="产业园区运营管理", address="上海市闵行区莘庄工业区申富路 1 号",
                   contact_name="周敏", contact_phone="021-54400404"),
    DemoEnterprise("park_member_materials", "上海莘庄新材料有限公司", 5, "310112", park="park",
                   industry="C26 化学原料和化学制品制造业", address="上海市闵行区莘庄工业区春东路 18 号",
                   contact_name="吴刚", contact_phone="021-54400505"),
    DemoEnterprise("park_member_datacenter", "上海紫竹云数据科技有限公司", 6, "310112",
                   kind=Enterprise.Kind.DATA_CENTER, park="park",
                   industry="I65 软件和信息技术服务业", address="上海市闵行区紫星路 588 号",
                   contact_name="郑洁", contact_phone="021-54400606"),
    # A registration still waiting for the Zhengzhou reviewer, so demo_city has something to decide.
    DemoEnterprise("zhengzhou_pending", "郑州二七节能环保科技有限公司", 7, "410103", approved=False,
                   admin="demo_applicant", industry="C38 电气机械和器材制造业",
                   address="河南省郑州市二七区大学路 80 号", contact_name="赵磊",
                   contact_phone="0371-68880707"),
)


@dataclass(frozen=True)
class DemoAuthority:
    key: str
    name: str
    region: str
    level: str
    programs: tuple[str, ...]


DEMO_AUTHORITIES: tuple[DemoAuthority, ...] = (
    DemoAuthority("zhengzhou", "郑州市工业和信息化局", "410100", Authority.Level.MUNICIPAL,
                  ("henan_dcmc_2023", "henan_contest_2025")),
    DemoAuthority("minhang", "闵行区经济委员会", "310112", Authority.Level.DISTRICT, ("shanghai_emc_2024",)),
    DemoAuthority("henan", "河南省工业和信息化厅", "410000", Authority.Level.PROVINCIAL,
                  ("henan_dcmc_2023", "henan_contest_2025")),
    # Shanghai is a province-level city: the commission takes the provincial steps of its program
    # (its acceptance window, 受理窗口, is the commission's staff), the districts the first review.
    DemoAuthority("shanghai", "上海市经济和信息化委员会", "310000", Authority.Level.PROVINCIAL,
                  ("shanghai_emc_2024",)),
)

DEMO_REVIEW_ORGANIZATION_NAME = "上海市节能能效评审中心"
DEMO_REVIEW_ORGANIZATION_REGION = "310109"  # 虹口区
DEMO_REVIEW_ORGANIZATION_SERIAL = 1


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    enterprise: str | None = None
    authority: str | None = None
    review_organization: bool = False
    full_name: str = ""


# The accounts the README promises, in the order it lists them.
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("demo_enterprise", Role.ENTERPRISE_ADMIN, enterprise="zhengzhou", full_name="王建国"),
    DemoUser("demo_enterprise_b", Role.ENTERPRISE_ADMIN, enterprise="luoyang", full_name="李红"),
    DemoUser("demo_shanghai", Role.ENTERPRISE_ADMIN, enterprise="shanghai", full_name="陈立"),
    DemoUser("demo_park", Role.ENTERPRISE_ADMIN, enterprise="park", full_name="周敏"),
    DemoUser("demo_city", Role.MUNICIPAL_REVIEWER, authority="zhengzhou", full_name="孙审核"),
    DemoUser("demo_district", Role.MUNICIPAL_REVIEWER, authority="minhang", full_name="钱初审"),
    # Also the contest's secretariat (大赛秘书处: the department's 节能与综合利用处).
    DemoUser("demo_province", Role.PROVINCIAL_OFFICER, authority="henan", full_name="刘处长"),
    DemoUser("demo_sh_commission", Role.PROVINCIAL_OFFICER, authority="shanghai", full_name="沈受理"),
    DemoUser("demo_expert", Role.EXPERT, review_organization=True, full_name="何专家"),
    DemoUser("demo_admin", Role.PLATFORM_ADMIN, full_name="平台管理员"),
)
# The applicant of the pending registration: can log in and see that it is waiting.
DEMO_APPLICANT = DemoUser("demo_applicant", Role.ENTERPRISE_ADMIN, enterprise="zhengzhou_pending",
                          full_name="赵磊")


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role_label: str
    organization: str
    password: str


def enterprise_credit_code(entry: DemoEnterprise) -> str:
    # 9 (工商) 1 (企业) + region + "NT" and a serial as the 9-character organization code.
    return make_credit_code(f"91{entry.region}NT{entry.serial:07d}")


def review_organization_credit_code() -> str:
    # 1 (机构编制) 2 (事业单位): the energy-efficiency centers are public institutions.
    return make_credit_code(f"12{DEMO_REVIEW_ORGANIZATION_REGION}NT{DEMO_REVIEW_ORGANIZATION_SERIAL:07d}")


def _split_name(full_name: str) -> tuple[str, str]:
    # Chinese names: family name first, one character for the demo names.
    return full_name[1:], full_name[:1]


@contextmanager
def _all_tenants() -> Iterator[None]:
    # The seed builds organizations of many tenants at once, like a data migration; no one
    # tenant's scope could hold it. Nothing here reads on behalf of a user.
    with scopes_disabled():
        yield


def _region(code: str) -> Region:
    return Region.objects.get(code=code)


def _ensure_authority(entry: DemoAuthority) -> Authority:
    region = _region(entry.region)
    authority = Authority.objects.filter(name=entry.name, region=region).first()
    if authority is None:
        authority = Authority(name=entry.name, region=region, level=entry.level)
        authority.full_clean()
        authority.save()
    missing = Program.objects.filter(code__in=entry.programs).exclude(
        pk__in=authority.programs.values_list("pk", flat=True)
    )
    if missing.exists():
        authority.programs.add(*missing)
    return authority


def _ensure_review_organization() -> ReviewOrganization:
    credit_code = review_organization_credit_code()
    organization = ReviewOrganization.objects.filter(credit_code=credit_code).first()
    if organization is None:
        organization = ReviewOrganization(name=DEMO_REVIEW_ORGANIZATION_NAME, credit_code=credit_code,
                                          region=_region(DEMO_REVIEW_ORGANIZATION_REGION))
        organization.full_clean()
        organization.save()
    return organization


def _ensure_user(spec: DemoUser, *, enterprise: Enterprise | None = None, authority: Authority | None = None,
                 review_organization: ReviewOrganization | None = None) -> User:
    """Create the account, or put its role, organization, flags and password back."""
    user = User.objects.filter(username=spec.username).first() or User(username=spec.username)
    first_name, last_name = _split_name(spec.full_name)
    wanted = {
        "role": spec.role,
        "enterprise_id": enterprise.pk if enterprise else None,
        "authority_id": authority.pk if authority else None,
        "review_organization_id": review_organization.pk if review_organization else None,
        "is_staff": spec.role in (Role.MUNICIPAL_REVIEWER, Role.PROVINCIAL_OFFICER, Role.EXPERT,
                                  Role.PLATFORM_ADMIN),
        "is_active": True,
        "is_superuser": False,
    }
    if not user.first_name and not user.last_name:
        wanted |= {"first_name": first_name, "last_name": last_name}
    changed = [name for name, value in wanted.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, wanted[name])
    password_stale = not user.has_usable_password() or not user.check_password(settings.DEMO_PASSWORD)
    if password_stale:
        user.set_password(settings.DEMO_PASSWORD)
        changed.append("password")
    if user.pk is None or changed:
        user.full_clean(exclude=["password"])
        user.save()
    return user


def _ensure_enterprise(entry: DemoEnterprise, *, parks: dict[str, Enterprise], approver: User) -> Enterprise:
    from portal.services import enterprise_approve, enterprise_register

    credit_code = enterprise_credit_code(entry)
    enterprise = Enterprise.objects.filter(credit_code=credit_code).first()
    if enterprise is not None:
        return enterprise
    park = parks.get(entry.park) if entry.park else None
    if entry.admin and not User.objects.filter(username=entry.admin).exists():
        # Registered the way a visitor registers. The password here is a throwaway: the seed sets
        # DEMO_PASSWORD afterwards without the strength rules, so a weak demo password still works.
        applicant = enterprise_register(
            name=entry.name, credit_code=credit_code, kind=entry.kind, region=_region(entry.region),
            industry=entry.industry, address=entry.address, contact_name=entry.contact_name,
            contact_phone=entry.contact_phone, username=entry.admin, password=secrets.token_urlsafe(24),
            park=park,
        )
        enterprise = applicant.enterprise
        assert enterprise is not None  # registration always links the account to its enterprise
    else:
        # Member enterprises without an account of their own (and enterprises whose account
        # survived them): built directly, since registration always creates a new account.
        enterprise = Enterprise(
            name=entry.name, credit_code=credit_code, kind=entry.kind, region=_region(entry.region),
            industry=entry.industry, address=entry.address, contact_name=entry.contact_name,
            contact_phone=entry.contact_phone, park=park, status=Enterprise.Status.PENDING,
        )
        enterprise.full_clean()
        enterprise.save()
    if entry.approved:
        enterprise_approve(actor=approver, enterprise=enterprise, note="演示数据")
    return enterprise


@transaction.atomic
def seed_organizations() -> list[DemoAccount]:
    """Programs, authorities, the review organization, enterprises and the demo accounts."""
    with _all_tenants():
        result = programs_load()
        if not result.ok:
            raise ValueError("; ".join(str(error) for error in result.errors))
        authorities = {entry.key: _ensure_authority(entry) for entry in DEMO_AUTHORITIES}
        review_organization = _ensure_review_organization()
        platform_admin_spec = next(spec for spec in DEMO_USERS if spec.role == Role.PLATFORM_ADMIN)
        platform_admin = _ensure_user(platform_admin_spec)
        enterprises: dict[str, Enterprise] = {}
        for entry in DEMO_ENTERPRISES:
            enterprises[entry.key] = _ensure_enterprise(entry, parks=enterprises, approver=platform_admin)
        accounts: list[DemoAccount] = []
        for spec in (*DEMO_USERS, DEMO_APPLICANT):
            user = _ensure_user(
                spec,
                enterprise=enterprises.get(spec.enterprise) if spec.enterprise else None,
                authority=authorities.get(spec.authority) if spec.authority else None,
                review_organization=review_organization if spec.review_organization else None,
            )
            accounts.append(DemoAccount(username=user.username, role_label=str(Role(user.role).label),
                                        organization=str(user.organization or "—"),
                                        password=settings.DEMO_PASSWORD))
    return accounts


def seed_metering_demo_if_available() -> bool:
    """Meters and readings for the demo enterprises, when the metering demo is installed."""
    if importlib.util.find_spec(METERING_DEMO_MODULE) is None:
        return False
    importlib.import_module(METERING_DEMO_MODULE).seed_metering_demo()
    return True


def seed_demo() -> list[DemoAccount]:
    accounts = seed_organizations()
    seed_metering_demo_if_available()
    # After the meters: the applications' measured figures come from their history.
    from applications.demo import seed_demo_applications

    seed_demo_applications()
    return accounts
