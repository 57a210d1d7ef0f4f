"""factory_boy factories for the core models. They build rows with scopes disabled (test setup).

Names are needles: the tenancy walk searches every page for the names, codes and user names of
what a role may not see. So each generated name carries a fixed-width serial (no name is a
part of another, as "用户1" is of "用户12") and a marker no template or fixture text contains.
"""

from __future__ import annotations

import itertools

import factory
from django_scopes import scopes_disabled

from portal.credit_code import make_credit_code
from portal.models import Authority, Enterprise, Region, ReviewOrganization, Role, User

TEST_PASSWORD = "correct-horse-battery-9"
_serial = itertools.count(1)


def region(code: str) -> Region:
    return Region.objects.get(code=code)


def credit_code_for(region_code: str) -> str:
    # 9 (工商) 1 (企业) + region + a unique 9-character organization code.
    return make_credit_code(f"91{region_code}{next(_serial):08d}X"[:17])


class ScopedFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # type: ignore[no-untyped-def]
        with scopes_disabled():
            return super()._create(model_class, *args, **kwargs)


class EnterpriseFactory(ScopedFactory):
    class Meta:
        model = Enterprise

    name = factory.Sequence(lambda n: f"测试企业{n:05d}号有限公司")
    region = factory.LazyFunction(lambda: region("410105"))
    credit_code = factory.LazyAttribute(lambda o: credit_code_for(o.region.code))
    kind = Enterprise.Kind.INDUSTRIAL
    industry = "C31 黑色金属冶炼和压延加工业"
    status = Enterprise.Status.APPROVED


class AuthorityFactory(ScopedFactory):
    class Meta:
        model = Authority

    name = factory.LazyAttribute(lambda o: f"{o.region.name}工业和信息化局")
    region = factory.LazyFunction(lambda: region("410100"))
    level = Authority.Level.MUNICIPAL


class ReviewOrganizationFactory(ScopedFactory):
    class Meta:
        model = ReviewOrganization

    name = factory.Sequence(lambda n: f"第三方评审机构{n:05d}号")
    credit_code = factory.LazyFunction(lambda: credit_code_for("310104"))


class UserFactory(ScopedFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"factory_user_{n:05d}")
    role = Role.ENTERPRISE_ADMIN
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def persist_password(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create:
            self.save(update_fields=["password"])
